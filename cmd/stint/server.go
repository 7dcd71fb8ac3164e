package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// logFlags configure the server's logger.
type logFlags struct{ format, level string }

func (f *logFlags) register(cmd *cobra.Command, format string) {
	cmd.Flags().StringVar(&f.format, "log-format", format, "log format: text or json")
	cmd.Flags().StringVar(&f.level, "log-level", "info", "log level: debug, info, warn, error")
}

func (f *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.level)); err != nil {
		return nil, withCode(exitUsage, fmt.Errorf("--log-level: %w", err))
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(f.format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, withCode(exitUsage, fmt.Errorf("--log-format: %q is not text or json", f.format))
}

func newServerCmd(e *env) *cobra.Command {
	var path, dataDir string
	var lf logFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the broker",
		Long: `Runs the broker with the configuration file given by --config.
SIGHUP reloads the configuration; a file with errors is refused and the
configuration in force stays. SIGINT or SIGTERM shut down gracefully.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := lf.logger(e.stderr)
			if err != nil {
				return err
			}
			app := NewApp(path, logger)
			app.DataDir = dataDir
			return serve(cmd.Context(), app)
		},
	}
	cmd.Flags().StringVar(&path, "config", "stint.yaml", "configuration file")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "directory for keys and state (default: beside the SQLite database)")
	lf.register(cmd, "json")
	return cmd
}

// serve opens app, reloads it on SIGHUP and runs it until ctx ends.
func serve(ctx context.Context, app *App) error {
	if err := app.Open(ctx); err != nil {
		return err
	}
	return serveOpened(ctx, app)
}

// serveOpened runs an opened app, reloading it on SIGHUP.
func serveOpened(ctx context.Context, app *App) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = app.Reload(ctx) // logged and audited; the old configuration stays on error
			}
		}
	}()
	return app.Run(ctx)
}
