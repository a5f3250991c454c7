package monitor

import (
	"embed"
	"io/fs"
)

// assets are the page, its script and style, and the login form template:
// no framework, nothing fetched from elsewhere.
//
//go:embed assets
var assets embed.FS

// staticFiles is served under /static/ (index.html is served at /).
var staticFiles, _ = fs.Sub(assets, "assets")
