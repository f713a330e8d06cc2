"""The GPU benchmark (`python -m benchmarks.gpu`) and the script that runs it on the lent device
in one call (`device.sh`)."""
