//go:build tools

// Package tools pins the FerretDB binary that the local stack builds.
package tools

import _ "github.com/FerretDB/FerretDB/cmd/ferretdb"
