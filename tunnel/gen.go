package tunnel

// The generated decap_bpfel.go and decap_bpfel.o are committed so that
// building fastlvs needs no clang. Regenerate after editing decap.c (needs
// clang and the libbpf and Linux UAPI headers):
//
//	go generate ./tunnel

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" decap decap.c
