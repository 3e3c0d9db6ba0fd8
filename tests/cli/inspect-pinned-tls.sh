# A thread_local with a destructor: the image stays until the threads that used it exit.
"$LIVEMOD" inspect "$LIVEMOD_FIXTURE_IMAGE_TLS"
