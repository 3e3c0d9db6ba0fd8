# 32-bit x86: another class and machine; SONAME with a version, RUNPATH with an empty entry.
"$LIVEMOD" inspect "$LIVEMOD_FIXTURE_IMAGE_I686"
