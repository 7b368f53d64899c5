# aio_bh_poll() runs each BH of its slice twice.
$file  = 'src/aio/bh.c';
$match = qr{(\n(\s*))bh->cb\(bh->opaque\);};
$subst = sub { "$1bh->cb(bh->opaque);$1bh->cb(bh->opaque); /* mutation */" };
