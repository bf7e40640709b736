"""gtzan-listen: stream audio (microphone, file or a synthetic demo) and show its genre as it plays."""
