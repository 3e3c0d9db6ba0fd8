"$LIVEMOD" frobnicate libcalculator.so
