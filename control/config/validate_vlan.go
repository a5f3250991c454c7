package config

import (
	"fmt"
	"slices"
	"strings"
)

// validateVLANs checks the named VLAN devices: each is a VLAN (1..4094) of
// an attached interface, named once, on a device that is not itself
// attached.
func (c *Config) validateVLANs() error {
	for i, v := range c.VLANs {
		path := fmt.Sprintf("vlans[%d]", i)
		switch {
		case !slices.Contains(c.Interfaces, v.Interface):
			return Errorf(path+".interface", "%q is not one of interfaces %v", v.Interface, c.Interfaces)
		case v.ID < 1 || v.ID > 4094:
			return Errorf(path+".id", "must be between 1 and 4094 (got %d)", v.ID)
		case v.Device == "" || len(v.Device) > configMaxInterfaceName || strings.ContainsAny(v.Device, "/ \t"):
			return Errorf(path+".device", "%q is not an interface name", v.Device)
		case slices.Contains(c.Interfaces, v.Device):
			return Errorf(path+".device", "%q is an attached interface, not a VLAN's device", v.Device)
		}
		for j, earlier := range c.VLANs[:i] {
			if earlier.Interface == v.Interface && earlier.ID == v.ID {
				return Errorf(path+".id", "VLAN %d of %s named twice (same as vlans[%d])", v.ID, v.Interface, j)
			}
			if earlier.Device == v.Device {
				return Errorf(path+".device", "device %q named twice (same as vlans[%d])", v.Device, j)
			}
		}
	}
	return nil
}
