package media

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// checkQuota fails with ErrQuotaExceeded when userID's uploads, with
// adding more bytes, would take more than the Quota.
func (s *Service) checkQuota(ctx context.Context, userID id.UserID, adding int64) error {
	if s.Quota <= 0 || userID == "" {
		return nil
	}
	used, err := s.DB.MediaUsage(ctx, userID)
	if err != nil {
		return err
	}
	if used+adding > s.Quota || (adding == 0 && used >= s.Quota) {
		return fmt.Errorf("%s uses %d of %d bytes, adding %d: %w", userID, used, s.Quota, adding, ErrQuotaExceeded)
	}
	return nil
}
