# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for iothreadctl: verbs, options, live iothread ids,
# block nodes and exports.

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
    iothreadctl "${sock[@]}" --timeout 2 --no-legend "${@:-list}" \
        2>/dev/null | awk '{ print $1 }'
}

# The words after a block verb (blockdev, nbd, export): its sub-verb,
# then node names, export ids, a mode, an iothread, or the first keys of
# a SPEC.
_iothreadctl_block()
{
    local verb=$1 sub=$2 nth=$3 cur=$4
    if ((nth == 1)); then
        case $verb in
        nbd) COMPREPLY=($(compgen -W "start stop" -- "$cur")) ;;
        export) COMPREPLY=($(compgen -W "add list del move" -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W "add list del" -- "$cur")) ;;
        esac
        return
    fi
    case $verb/$sub/$nth in
    blockdev/del/2)
        COMPREPLY=($(compgen -W "$(_iothreadctl_ids blockdev list)" \
            -- "$cur")) ;;
    export/del/2 | export/move/2)
        COMPREPLY=($(compgen -W "$(_iothreadctl_ids export list)" \
            -- "$cur")) ;;
    export/move/3)
        COMPREPLY=($(compgen -W "$(_iothreadctl_ids) -" -- "$cur")) ;;
    export/del/3) COMPREPLY=($(compgen -W "safe hard" -- "$cur")) ;;
    blockdev/add/2)
        COMPREPLY=($(compgen -W "driver=file,node-name=" -- "$cur")) ;;
    nbd/start/2)
        COMPREPLY=($(compgen -W "addr.type=unix,addr.path=
            addr.type=inet,addr.host=" -- "$cur")) ;;
    export/add/2)
        COMPREPLY=($(compgen -W "type=nbd,id=" -- "$cur")) ;;
    esac
}

_iothreadctl()
{
    local cur prev verb vi i
    _init_completion -s 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
    }
    local verbs="list info get add set del pin stats top monitor status
                 reload quit qmp shell blockdev nbd export"
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
        *) verb=${COMP_WORDS[i]}; vi=$i; break ;;
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
    blockdev | nbd | export)
        _iothreadctl_block "$verb" "${COMP_WORDS[vi + 1]}" \
            $((COMP_CWORD - vi)) "$cur"
        ;;
    info | get | set | del | pin | stats)
        COMPREPLY=($(compgen -W "$(_iothreadctl_ids)" -- "$cur"))
        ;;
    esac
}

complete -F _iothreadctl iothreadctl
