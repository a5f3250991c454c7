package toa

// The generated toa_bpfel.go and toa_bpfel.o are committed so that building
// fastlvs needs no clang. Regenerate after editing toa.c (needs clang and the
// libbpf and Linux UAPI headers):
//
//	go generate ./toa

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" toa toa.c
