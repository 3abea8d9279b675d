"""HTTP: the one place that opens sockets (`http`), and the retry and stall policy (`policy`)."""
