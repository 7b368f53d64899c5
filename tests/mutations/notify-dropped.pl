# Every 16th aio_bh_schedule_oneshot() forgets to wake the loop: a BH
# posted to an idle loop waits until something else happens to wake it.
$file  = 'src/aio/bh.c';
$match = qr{(int\s+aio_bh_schedule_oneshot\(.*?\n(\s*)stack_push\(ctx,\s*bh\);\n)\s*aio_notify\(ctx\);}s;
$subst = sub {
    "$1$2static atomic_uint mutation_n;\n"
  . "$2if (atomic_fetch_add(&mutation_n, 1) % 16 != 15) {\n"
  . "$2    aio_notify(ctx);\n$2}";
};
