"""`python -m runplane.worker ...`: the same command as `runplane worker`, without loading the server."""

from runplane.worker.command import main

main()
