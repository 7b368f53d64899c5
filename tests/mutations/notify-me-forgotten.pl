# aio_poll() blocks without announcing it (notify_me stays 0): aio_notify()
# from another thread then never writes the eventfd.
$file  = 'src/aio/aio-poll.c';
$match = qr{atomic_store\(&ctx->notify_me,\s*2\);};
$subst = sub { "/* mutation: notify_me not raised */" };
