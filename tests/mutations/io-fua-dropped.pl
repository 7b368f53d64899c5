# AIO_IO_FUA is not turned into RWF_DSYNC: a FUA write completes with its
# data still only in the page cache.
$file  = 'src/aio/io-engine.c';
$match = qr{req->rw_flags_ = req->flags & AIO_IO_FUA \? RWF_DSYNC : 0;};
$subst = sub { "req->rw_flags_ = 0; /* mutation: FUA dropped */" };
