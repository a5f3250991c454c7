package steer

import "testing"

// TestProgramSize reports the program's size and guards the verifier's work:
// every VLAN/IP/ICMP path is unrolled, so a careless change multiplies it.
func TestProgramSize(t *testing.T) {
	spec, err := loadSteer()
	must(t, err)
	prog := loadTestProgram(t)
	info, err := prog.objects.FastlvsSteer.Info()
	must(t, err)
	xlated, err := info.Instructions()
	must(t, err)
	jited, err := info.JitedSize()
	must(t, err)
	verified, ok := info.VerifiedInstructions()
	if !ok {
		t.Fatal("kernel reports no verified instruction count")
	}
	t.Logf("instructions: %d in the object, %d after loading, %d bytes jited; verifier processed %d",
		len(spec.Programs[steerProgFastlvsSteer].Instructions), len(xlated), jited, verified)
	const verifiedBudget = 10000
	if verified > verifiedBudget {
		t.Errorf("verifier processed %d instructions, budget %d", verified, verifiedBudget)
	}
}
