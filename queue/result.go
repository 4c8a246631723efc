package queue

import (
	"encoding/json"
	"fmt"
)

// Result is one rpc:// result message.
type Result struct {
	TaskID string
	State  State
	// Value is the task's return value for SUCCESS (JSON types, numbers as
	// json.Number) and the {"pid", "hostname"} object for STARTED.
	Value any
	// Raw is the "result" field exactly as sent.
	Raw json.RawMessage
	// Err describes the exception of FAILURE, REVOKED and RETRY results.
	Err       *RemoteError
	Traceback string
}

type resultJSON struct {
	TaskID    string          `json:"task_id"`
	Status    State           `json:"status"`
	Result    json.RawMessage `json:"result"`
	Traceback *string         `json:"traceback"`
	Children  json.RawMessage `json:"children"`
}

type excJSON struct {
	Type    string `json:"exc_type"`
	Message any    `json:"exc_message"`
	Module  string `json:"exc_module"`
}

// EncodeResult builds the message a Celery worker publishes to reply_to for
// r: Value (or Raw) for SUCCESS and STARTED, Err for the other states.
func EncodeResult(r *Result) (*Message, error) {
	raw := r.Raw
	var tb []byte
	switch {
	case r.Err != nil:
		var err error
		if raw, err = encodeException(r.Err); err != nil {
			return nil, fmt.Errorf("queue: encode result of %s: %w", r.TaskID, err)
		}
		if tbs := r.Traceback; tbs != "" || r.Err.Traceback != "" {
			if tbs == "" {
				tbs = r.Err.Traceback
			}
			tb, _ = json.Marshal(tbs)
		}
	case raw == nil:
		var err error
		if raw, err = appendValue(nil, r.Value); err != nil {
			return nil, fmt.Errorf("queue: encode result of %s: %w", r.TaskID, err)
		}
	}
	return resultMessage(r.TaskID, r.State, raw, tb), nil
}

// resultMessage assembles the result body by hand: this is the hot path.
func resultMessage(taskID string, state State, raw, traceback []byte) *Message {
	b := make([]byte, 0, 96+len(taskID)+len(raw)+len(traceback))
	b = append(b, `{"task_id": `...)
	b = appendString(b, taskID)
	b = append(b, `, "status": "`...)
	b = append(b, state...)
	b = append(b, `", "result": `...)
	b = append(b, raw...)
	b = append(b, `, "traceback": `...)
	if traceback == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, traceback...)
	}
	b = append(b, `, "children": []}`...)
	return &Message{
		ContentType:     contentTypeJSON,
		ContentEncoding: encodingUTF8,
		CorrelationID:   taskID,
		Body:            b,
	}
}

func encodeException(e *RemoteError) ([]byte, error) {
	msg := e.Message
	if msg == nil {
		msg = []any{}
	}
	module := e.Module
	if module == "" {
		module = errorModule
	}
	b := appendString([]byte(`{"exc_type": `), e.Type)
	b = append(b, `, "exc_message": `...)
	b, err := appendValue(b, msg)
	if err != nil {
		return nil, err
	}
	b = append(b, `, "exc_module": `...)
	b = appendString(b, module)
	return append(b, '}'), nil
}

// DecodeResult reads a result message.
func DecodeResult(m *Message) (*Result, error) {
	if r, ok := decodeResultFast(m); ok {
		return r, nil
	}
	return decodeResultSlow(m)
}

func decodeResultSlow(m *Message) (*Result, error) {
	var rj resultJSON
	if err := json.Unmarshal(m.Body, &rj); err != nil {
		return nil, fmt.Errorf("queue: result message %s: %s", m.CorrelationID, jsonErr(err))
	}
	r := &Result{TaskID: rj.TaskID, State: rj.Status, Raw: rj.Result}
	if r.TaskID == "" {
		r.TaskID = m.CorrelationID
	}
	if r.TaskID == "" {
		return nil, fmt.Errorf("queue: result message without task_id")
	}
	if rj.Traceback != nil {
		r.Traceback = *rj.Traceback
	}
	switch r.State {
	case StateFailure, StateRevoked, StateRetry:
		var ej excJSON
		if err := unmarshalNumber(rj.Result, &ej); err != nil || ej.Type == "" {
			// Not an exception dict: keep the value as text.
			r.Err = &RemoteError{Type: "Exception", Module: "builtins", Message: []any{string(rj.Result)}}
		} else {
			r.Err = &RemoteError{Type: ej.Type, Module: ej.Module}
			switch x := ej.Message.(type) {
			case []any:
				r.Err.Message = x
			case nil:
			default:
				r.Err.Message = []any{x}
			}
		}
		r.Err.Traceback = r.Traceback
		r.Err.State = r.State
	case StateSuccess, StateStarted:
		if len(rj.Result) > 0 {
			if err := unmarshalNumber(rj.Result, &r.Value); err != nil {
				return nil, fmt.Errorf("queue: result of %s: %s", r.TaskID, jsonErr(err))
			}
		}
	case "":
		return nil, fmt.Errorf("queue: result message for %s without status", r.TaskID)
	}
	return r, nil
}
