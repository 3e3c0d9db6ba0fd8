# An AArch64 module on this x86-64 host.
"$LIVEMOD" check "$LIVEMOD_FIXTURE_IMAGE_AARCH64"
