"""The CIS Docker Benchmark audit: one probe per host, the checks of sections 1, 2, 3 and 5 as
pure functions of what the probe read, and reports for people, CI and Prometheus."""
