# A host with its own manifest, built with _GLIBCXX_DEBUG: the fingerprint source is "manifest".
"$LIVEMOD" check --json --host "$LIVEMOD_FIXTURE_COMPAT_HOST_MANIFEST" "$LIVEMOD_FIXTURE_CALCULATOR"
