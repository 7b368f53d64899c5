# AIO_IO_FUA is not turned into RWF_DSYNC: a FUA write completes with its
# data still only in the page cache (on every back-end: they all take
# their RWF_* flags from rw_flags()).
$file  = 'src/aio/io-engine.c';
$match = qr{return req->flags & AIO_IO_FUA \? RWF_DSYNC : 0;};
$subst = sub { "return 0; /* mutation: FUA dropped */" };
