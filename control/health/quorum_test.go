package health

import "testing"

func TestQuorum(t *testing.T) {
	for _, tc := range []struct {
		name               string
		up                 []bool
		weights            []int
		quorum, hysteresis int
		had, want          bool
	}{
		{"no servers, quorum 1", nil, nil, 1, 0, true, false},
		{"default weight 1 each", []bool{true, true, false}, nil, 2, 0, false, true},
		{"down servers do not count", []bool{false, false, true}, []int{5, 5, 1}, 2, 0, true, false},
		{"weights add", []bool{true, false, true}, []int{2, 9, 3}, 5, 0, false, true},
		{"negative weight counts 0", []bool{true, true}, []int{-4, 1}, 1, 0, false, true},
		{"inside the band keeps gained", []bool{true, true}, nil, 3, 1, true, true},
		{"inside the band keeps lost", []bool{true, true, true}, nil, 3, 1, false, false},
		{"reaching quorum+hysteresis gains", []bool{true, true, true, true}, nil, 3, 1, false, true},
		{"below quorum-hysteresis loses", []bool{true}, nil, 3, 1, true, false},
		{"zero quorum always met", nil, nil, 0, 0, false, true},
	} {
		if got := Quorum(tc.up, tc.weights, tc.quorum, tc.hysteresis, tc.had); got != tc.want {
			t.Errorf("%s: Quorum = %v, want %v", tc.name, got, tc.want)
		}
	}
}
