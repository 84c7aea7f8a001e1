# Loaded (with Kernel.load) by child_lazy's thread, after R:OK has been sent.
$zcheck_lazy_loaded = true
