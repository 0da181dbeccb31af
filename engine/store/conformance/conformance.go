// Package conformance is the test suite every store.Store backend must pass. A
// backend's test calls RunTests with a function that opens a fresh, empty store.
//
// Beyond store.go, the suite pins down these choices, so that backends agree on them:
//
//   - Times come back in UTC, equal to what was stored at millisecond precision; the
//     zero time comes back as the zero time.
//   - A nil and an empty slice (Scopes, AMR, CodeMAC, …) are interchangeable: a backend
//     may return either for a stored empty list. So are a nil and an empty map
//     (Transaction.Pending).
//   - Delete* of a record that does not exist returns ErrNotFound.
//   - An Update* function that changes the record's key (ID, handle or code hashes,
//     throttle Key) gets an error back and nothing is written.
//   - An Update* of a record that does not exist returns ErrNotFound without calling
//     the function (UpdateThrottle excepted: it always has a record to show).
//   - The store sets Transaction.Revision on update to the stored revision plus one,
//     whatever the function returned; CreateTransaction stores it as given.
//   - ListUsers orders by login byte by byte (as Go compares strings), whatever the
//     database's locale. Its Prefix folds the case of ASCII letters only, and takes
//     '%', '_' and '\' literally.
//   - A message queued by CreateChallenge with an empty Status is pending, and a
//     pending message with a zero NextAttemptAt is due at once. ClaimMessages with a
//     limit <= 0 claims nothing.
//   - GarbageCollect deletes only what expired strictly before now and keeps records
//     with a zero ExpiresAt. A sent or failed message finished at its SentAt if set,
//     otherwise at the latest of its CreatedAt, NextAttemptAt and LeaseUntil (store.go
//     gives messages no finishing time of their own).
package conformance

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// RunTests runs the whole suite. newStore must return a new, empty store for the test
// it is given, and arrange (with t.Cleanup) to close and remove it afterwards.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},

		{"UserRoundTrip", testUserRoundTrip},
		{"UserDuplicates", testUserDuplicates},
		{"ListUsers", testListUsers},
		{"ListUsersDefaultLimit", testListUsersDefaultLimit},
		{"ListUsersFiltered", testListUsersFiltered},
		{"UpdateUser", testUpdateUser},
		{"DeleteUser", testDeleteUser},
		{"ImportUsers", testImportUsers},
		{"ImportUsersAllOrNothing", testImportUsersAllOrNothing},
		{"Passwords", testPasswords},
		{"PhoneEnrollments", testPhoneEnrollments},
		{"UserStatus", testUserStatus},
		{"UpdatePhoneEnrollment", testUpdatePhoneEnrollment},
		{"PendingPhones", testPendingPhones},
		{"Enrollments", testEnrollments},
		{"UpdateEnrollment", testUpdateEnrollment},

		{"TransactionRoundTrip", testTransactionRoundTrip},
		{"UpdateTransaction", testUpdateTransaction},
		{"DeleteTransaction", testDeleteTransaction},

		{"ChallengeRoundTrip", testChallengeRoundTrip},
		{"CreateChallengeInvalidatesOthers", testCreateChallengeInvalidatesOthers},
		{"CreateChallengeAtomic", testCreateChallengeAtomic},
		{"UpdateChallenge", testUpdateChallenge},
		{"InvalidateChallenges", testInvalidateChallenges},

		{"ClaimMessages", testClaimMessages},
		{"UpdateMessage", testUpdateMessage},
		{"ListMessages", testListMessages},
		{"QueueMessage", testQueueMessage},
		{"OutboxBacklog", testOutboxBacklog},

		{"InteractionCodes", testInteractionCodes},
		{"RefreshTokens", testRefreshTokens},
		{"RevokeRefreshTokenFamily", testRevokeRefreshTokenFamily},
		{"RevokeTokens", testRevokeTokens},
		{"RevokeTokensRefusesBadInput", testRevokeTokensRefusesBadInput},
		{"RevokedAccessTokens", testRevokedAccessTokens},
		{"AccessTokenRevokedByUserSessionFamily", testAccessTokenRevokedByUserSessionFamily},

		{"Sessions", testSessions},
		{"EndUserSessions", testEndUserSessions},
		{"ConcurrentSessionClients", testConcurrentSessionClients},

		{"SigningKeys", testSigningKeys},
		{"Secrets", testSecrets},
		{"Throttles", testThrottles},
		{"ReserveThrottles", testReserveThrottles},
		{"DeleteThrottles", testDeleteThrottles},

		{"ClientRoundTrip", testClientRoundTrip},
		{"ListClients", testListClients},
		{"UpdateClient", testUpdateClient},
		{"DeleteClient", testDeleteClient},

		{"APITokenRoundTrip", testAPITokenRoundTrip},
		{"ListAPITokens", testListAPITokens},
		{"RevokeAPIToken", testRevokeAPIToken},
		{"RecordAPITokenUse", testRecordAPITokenUse},

		{"EventRoundTrip", testEventRoundTrip},
		{"ListEvents", testListEvents},
		{"DeleteEventsBefore", testDeleteEventsBefore},
		{"RecordsCommitWithChange", testRecordsCommitWithChange},
		{"FlushEvents", testFlushEvents},

		{"GetAccount", testGetAccount},
		{"GetSignIn", testGetSignIn},
		{"GetTokenAccount", testGetTokenAccount},

		{"AtomicCommitsTogether", testAtomicCommitsTogether},
		{"AtomicRollsBack", testAtomicRollsBack},
		{"AtomicCallFailsAlone", testAtomicCallFailsAlone},
		{"AtomicNested", testAtomicNested},
		{"AtomicFailedUpdate", testAtomicFailedUpdate},

		{"GarbageCollect", testGarbageCollect},

		{"ConcurrentCreateUser", testConcurrentCreateUser},
		{"ConcurrentInteractionCodeRedeem", testConcurrentInteractionCodeRedeem},
		{"ConcurrentRefreshTokenRotate", testConcurrentRefreshTokenRotate},
		{"ConcurrentChallengeConsume", testConcurrentChallengeConsume},
		{"ConcurrentThrottleIncrement", testConcurrentThrottleIncrement},
		{"ConcurrentReserve", testConcurrentReserve},
		{"ConcurrentClaimMessages", testConcurrentClaimMessages},
		{"ConcurrentGetOrCreateSecret", testConcurrentGetOrCreateSecret},
		{"ConcurrentUpdateTransaction", testConcurrentUpdateTransaction},
		{"ConcurrentEnrollmentStep", testConcurrentEnrollmentStep},
		{"ConcurrentAtomic", testConcurrentAtomic},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping on a fresh store: %v", err)
	}
}
