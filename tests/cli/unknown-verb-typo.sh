"$LIVEMOD" inspcet libcalculator.so
