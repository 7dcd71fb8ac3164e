// Package policy compiles the policies of a configuration once, CEL
// conditions included, and decides requests against them as a pure function
// of the principal, the request, the open windows and the time.
package policy

import (
	"time"

	"github.com/google/cel-go/cel"
	"github.com/robfig/cron/v3"
	"github.com/stint-io/stint"
)

// Requirements a policy may put on a request.
const (
	RequireReason = "reason"
	RequireTicket = "ticket"
)

// Bounds of any TTL, requested or configured.
const (
	MinTTL = time.Second
	MaxTTL = 365 * 24 * time.Hour
)

// Policy is one entry of `policies:`. The exported fields are plain data as
// written in the configuration; Compile fills the unexported compiled parts.
type Policy struct {
	Name string
	// Who is a CEL condition over `principal`; When (optional) is a CEL
	// condition over `principal` and `request`.
	Who, When string
	// Access lists "resource/role" entries; "resource/*" means every role
	// of the resource.
	Access []string
	// TTL is the default grant duration; MaxTTL (0: TTL) is the ceiling of a
	// grant's life since activation, renewals included.
	TTL, MaxTTL time.Duration
	// Require lists what a request must carry: RequireReason, RequireTicket.
	Require    []string
	Approval   *stint.ApprovalRule
	BreakGlass bool
	Window     *WindowSpec

	who, when cel.Program
}

// WindowSpec is the window block of a policy: exactly one of Schedule and
// Event. Provision lists access entries (a subset of the policy's access)
// granted when the window opens and revoked when it closes.
type WindowSpec struct {
	Schedule  *ScheduleSpec
	Event     *EventSpec
	Provision []string
}

// ScheduleSpec is a cron-scheduled window: each run of Cron in Timezone opens
// a window at run-Lead that closes at run+Duration+Lag.
type ScheduleSpec struct {
	Cron     string
	Timezone string // "" means UTC
	Duration time.Duration
	Lead     time.Duration
	Lag      time.Duration

	schedule cron.Schedule
	location *time.Location
}

// Schedule returns the parsed cron schedule; nil before Compile.
func (s *ScheduleSpec) Schedule() cron.Schedule { return s.schedule }

// Location returns the loaded time zone; nil before Compile.
func (s *ScheduleSpec) Location() *time.Location { return s.location }

// EventSpec is an event-opened window. Open, Close and Key are CEL
// expressions over `event`: Open and Close are conditions, Key (optional)
// yields the string pairing an open event with its close event. A window
// closes at Max after opening if no close event comes.
type EventSpec struct {
	Source string // the name of an `events:` source
	Open   string
	Close  string
	Key    string
	Max    time.Duration

	open, close, key cel.Program
}

// Event is an incoming webhook event as CEL sees it (`event`).
type Event struct {
	Source string
	Type   string
	ID     string
	Key    string
	Time   time.Time
	Data   map[string]any
}

// EventMatch is what one policy's event window says about an event.
type EventMatch struct {
	// CloseAll: a close event whose key could not be computed closes every
	// window of the policy (fail closed).
	CloseAll bool
	Open     bool   // the event opens a window
	Close    bool   // the event closes a window
	Key      string // the window key (the event's Key when the policy has no key expression)
}
