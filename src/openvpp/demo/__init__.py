"""Demo data: the industrial park seeded by ``openvpp db seed`` and its real-data samples."""
