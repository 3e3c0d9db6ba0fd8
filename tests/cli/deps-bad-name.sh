# A name with ".." is refused before any file is looked at (a path needs a '/').
"$LIVEMOD" deps 'app..'
