# A fired io_uring poll is not put on the re-arm list: its fd is watched
# once, then never again.
$file  = 'src/aio/fdmon-io-uring.c';
$match = qr{(static\s+void\s+process_cqe\(.*?)LIST_INSERT_HEAD\(&s->rearm,\s*node,\s*uring_rearm\);}s;
$subst = sub { "$1/* mutation: not re-armed */" };
