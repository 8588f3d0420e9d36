//go:build tools

// Package tools pins the etcd server binary that the local stack builds.
package tools

import _ "go.etcd.io/etcd/server/v3"
