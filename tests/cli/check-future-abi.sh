# The manifest asks for livemod ABI 99.
"$LIVEMOD" check "$LIVEMOD_FIXTURE_COMPAT_FUTURE_ABI"
