"""Work that runs alongside: progress callbacks, cancellation tokens, worker threads, pools."""
