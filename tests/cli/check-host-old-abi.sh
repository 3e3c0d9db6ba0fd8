# A host built with _GLIBCXX_USE_CXX11_ABI=0: its fingerprint is inferred from its image.
"$LIVEMOD" check --host "$LIVEMOD_FIXTURE_COMPAT_HOST_OLD_ABI" "$LIVEMOD_FIXTURE_CALCULATOR"
