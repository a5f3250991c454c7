package health

// Quorum reports whether a virtual service has quorum, keepalived style:
// the summed weight of up real servers must reach quorum+hysteresis to gain
// it and drop below quorum-hysteresis to lose it; in between, had (the
// previous answer) stands, so one flapping server does not flap the service.
// weights[i] is server i's weight; a missing weight counts 1, a negative 0.
func Quorum(up []bool, weights []int, quorum, hysteresis int, had bool) bool {
	sum := 0
	for i, isUp := range up {
		if !isUp {
			continue
		}
		w := 1
		if i < len(weights) {
			w = max(weights[i], 0)
		}
		sum += w
	}
	switch {
	case sum >= quorum+hysteresis:
		return true
	case sum < quorum-hysteresis:
		return false
	}
	return had
}
