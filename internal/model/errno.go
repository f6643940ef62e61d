package model

// Errno is a Linux errno number; 0 means success. The model returns plain
// Linux numbers so that it depends on nothing else in vmsim.
//
// Errno is a plain value, safe to copy and compare from any goroutine.
type Errno int

// The errno values the model can return (x86-64 Linux numbering).
const (
	EPERM      Errno = 1
	EIO        Errno = 5 // from Load/Store: stands for SIGBUS (BUS_ADRERR), an access beyond the end of the backing object
	EBADF      Errno = 9
	EAGAIN     Errno = 11
	ENOMEM     Errno = 12
	EACCES     Errno = 13 // from Load/Store: stands for SIGSEGV with SEGV_ACCERR
	EFAULT     Errno = 14 // from Load/Store: stands for SIGSEGV with SEGV_MAPERR
	EEXIST     Errno = 17
	ENODEV     Errno = 19
	EINVAL     Errno = 22
	EOVERFLOW  Errno = 75
	EOPNOTSUPP Errno = 95
)

var errnoText = map[Errno]string{
	0:          "success",
	EPERM:      "operation not permitted",
	EIO:        "input/output error",
	EBADF:      "bad file descriptor",
	EAGAIN:     "resource temporarily unavailable",
	ENOMEM:     "cannot allocate memory",
	EACCES:     "permission denied",
	EFAULT:     "bad address",
	EEXIST:     "file exists",
	ENODEV:     "no such device",
	EINVAL:     "invalid argument",
	EOVERFLOW:  "value too large for defined data type",
	EOPNOTSUPP: "operation not supported",
}

// Error returns the strerror text, as glibc spells it in lower case.
func (e Errno) Error() string {
	if s, ok := errnoText[e]; ok {
		return s
	}
	return "errno " + itoa(int(e))
}

// Name returns the symbolic name ("ENOMEM"), or "errno N".
func (e Errno) Name() string {
	switch e {
	case 0:
		return "OK"
	case EPERM:
		return "EPERM"
	case EIO:
		return "EIO"
	case EBADF:
		return "EBADF"
	case EAGAIN:
		return "EAGAIN"
	case ENOMEM:
		return "ENOMEM"
	case EACCES:
		return "EACCES"
	case EFAULT:
		return "EFAULT"
	case EEXIST:
		return "EEXIST"
	case ENODEV:
		return "ENODEV"
	case EINVAL:
		return "EINVAL"
	case EOVERFLOW:
		return "EOVERFLOW"
	case EOPNOTSUPP:
		return "EOPNOTSUPP"
	}
	return "errno " + itoa(int(e))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
