# io_uring completions run their callbacks inside the fd monitor's wait,
# while it walks the completion queue, instead of from the engine's BH.
$file  = 'src/aio/io-engine-uring.c';
$match = qr{\n    aio_io_complete_later\(st, req, req->ret_\);\n\}};
$subst = sub {
    "\n    /* mutation: the callback runs inside the wait */\n"
  . "    aio_io_release(req);\n"
  . "    aio_io_finish(st, req, req->ret_);\n}";
};
