# Built against liblivemod_versioned.so v2, its RUNPATH finds v1, which lacks LIVEMOD_STUB_2.0.
"$LIVEMOD" check --allow-missing-manifest "$LIVEMOD_FIXTURE_NEEDS_NEWER_VERSION"
