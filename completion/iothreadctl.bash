# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for iothreadctl: verbs, options, live iothread ids.

_iothreadctl_ids()
{
    local sock=()
    local i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
        -s | --socket) sock=(--socket "${COMP_WORDS[i + 1]}") ;;
        --socket=*) sock=("${COMP_WORDS[i]}") ;;
        esac
    done
    iothreadctl "${sock[@]}" --timeout 2 --no-legend list 2>/dev/null |
        awk '{ print $1 }'
}

_iothreadctl()
{
    local cur prev verb i
    _init_completion -s 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    }
    local verbs="list info get add set del pin stats top monitor status
                 reload quit qmp shell"
    local global="--socket --json --quiet --no-legend --timeout --verbose
                  --help --version"
    local knobs="--poll-max-ns --poll-grow --poll-shrink --aio-max-batch
                 --thread-pool-min --thread-pool-max --cpus"
    local create_knobs="--fdmon"

    case $prev in
    -s | --socket)
        COMPREPLY=($(compgen -f -- "$cur"))
        return
        ;;
    --fdmon)
        COMPREPLY=($(compgen -W "auto io_uring epoll poll" -- "$cur"))
        return
        ;;
    --json | -j)
        COMPREPLY=($(compgen -W "pretty short" -- "$cur"))
        return
        ;;
    esac

    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -s | --socket | -t | --timeout | --poll-* | --aio-max-batch | \
            --thread-pool-* | --cpus | --fdmon) ((i++)) ;;
        -*) ;;
        *) verb=${COMP_WORDS[i]}; break ;;
        esac
    done

    if [[ -z $verb ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$global" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
        fi
        return
    fi
    if [[ $cur == -* ]]; then
        case $verb in
        add) COMPREPLY=($(compgen -W "$knobs $create_knobs $global" -- "$cur")) ;;
        set) COMPREPLY=($(compgen -W "$knobs $global" -- "$cur")) ;;
        stats) COMPREPLY=($(compgen -W "--raw --watch $global" -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W "$global" -- "$cur")) ;;
        esac
        return
    fi
    case $verb in
    info | get | set | del | pin | stats)
        COMPREPLY=($(compgen -W "$(_iothreadctl_ids)" -- "$cur"))
        ;;
    esac
}

complete -F _iothreadctl iothreadctl
