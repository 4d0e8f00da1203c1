echo "hello from an image built inside a Slipway job"
