// Package grafana carries the fastlvs Grafana dashboard (fastlvs.json, for
// Grafana's "Import dashboard") so tools can ship it with the binary. Its test
// checks that every query names only metrics fastlvs exports.
package grafana

import _ "embed"

// Dashboard is fastlvs.json: per-core packet rates first, then services,
// real servers, connection-table use and health.
//
//go:embed fastlvs.json
var Dashboard []byte
