package broker

import (
	"net/url"
	"regexp"
	"strings"
)

// userinfo matches the password part of a URL's user info, for URLs that
// do not parse.
var userinfo = regexp.MustCompile(`(://[^/@:]*:)[^/@]*@`)

// RedactURL hides a broker URL's password for messages and logs, masked as
// "****" as `dsys config show` masks it; a string that does not parse as a
// URL is masked between "user:" and "@" all the same.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return userinfo.ReplaceAllString(raw, "${1}****@")
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); !ok {
		return raw
	}
	u.User = url.UserPassword(u.User.Username(), "****")
	// UserPassword escapes '*'; show the mask as typed.
	return strings.Replace(u.String(), url.QueryEscape("****"), "****", 1)
}
