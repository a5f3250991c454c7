package xsk

import "fastlvs/hugemem"

// mapUMEM maps size bytes of UMEM in transparent huge pages and faults it all
// in. In copy mode the worker's first read of every received frame is its
// first touch of that frame's page since the kernel wrote it; frames in flight
// span several MB, far more than the TLB covers in 4 KiB pages, so that read
// paid a page walk per packet. In the bench at 1,000 flows it was a third of
// the worker's user time, and a fifth with huge pages, which fold the UMEM
// into a few TLB entries. mapping is what to unmap; umem is the aligned part
// inside it. Where THP is off, the UMEM stays in 4 KiB pages.
func mapUMEM(size int) (umem, mapping []byte, err error) {
	umem, mapping, err = hugemem.Map(size)
	if err != nil {
		return nil, nil, err
	}
	hugemem.Populate(umem)
	return umem, mapping, nil
}
