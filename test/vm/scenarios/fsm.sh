# Every (from, to) pair of the 8-state FSM on a live device (P2P and PRE_COPY supported).
a=$(mk nic)
vmtest fsm "$a" || fail "fsm"
