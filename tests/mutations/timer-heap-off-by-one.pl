# The timer heap's sift-up takes i / 2 for the parent of i instead of
# (i - 1) / 2: right children compare with their left sibling's subtree,
# and an earlier timer can stay below a later one.
$file  = 'src/aio/timer.c';
$match = qr{(heap_sift_up\(.*?size_t\s+parent\s*=\s*)\(i\s*-\s*1\)\s*/\s*2}s;
$subst = sub { "${1}i / 2" };
