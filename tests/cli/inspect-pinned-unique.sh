# Built with -fgnu-unique: dlclose could not unmap it, a warning with the remedy.
"$LIVEMOD" inspect "$LIVEMOD_FIXTURE_IMAGE_UNIQUE"
