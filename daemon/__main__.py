"""``python -m gtzan.daemon`` runs gtzan-listen."""

from gtzan.daemon.cli import main

main()
