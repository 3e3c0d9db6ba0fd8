# Warnings do not make a module incompatible: exit 0.
"$LIVEMOD" check "$LIVEMOD_FIXTURE_IMAGE_UNIQUE"
