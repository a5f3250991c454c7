package steer

// The generated steer_bpfel.go and steer_bpfel.o are committed so that building
// fastlvs needs no clang. Regenerate after editing steer.c (needs clang and the
// libbpf and Linux UAPI headers):
//
//	go generate ./dataplane/steer

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" steer steer.c
