// SPDX-License-Identifier: MIT
// A Chainlink-style price aggregator for tests: the AggregatorV3Interface
// reads (decimals, description, version, latestRoundData, getRoundData) and
// two writes a test uses to move the answer (updateAnswer, stamped with the
// block's time) or to date it (updateRoundData, e.g. hours in the past).
// price_aggregator.h holds its init code, built by build_aggregator.sh.
pragma solidity 0.8.28;

contract PriceAggregator {
    uint8 public immutable decimals;
    string public description = "warden test aggregator";
    uint256 public constant version = 4;

    uint80 public latestRound;
    mapping(uint80 => int256) private answers;
    mapping(uint80 => uint256) private updatedAts;
    mapping(uint80 => uint256) private startedAts;

    constructor(uint8 decimals_, int256 answer) {
        decimals = decimals_;
        updateAnswer(answer);
    }

    function updateAnswer(int256 answer) public {
        updateRoundData(latestRound + 1, answer, block.timestamp, block.timestamp);
    }

    function updateRoundData(uint80 roundId, int256 answer, uint256 updatedAt,
                             uint256 startedAt) public {
        latestRound = roundId;
        answers[roundId] = answer;
        updatedAts[roundId] = updatedAt;
        startedAts[roundId] = startedAt;
    }

    function getRoundData(uint80 roundId) public view returns (
        uint80, int256, uint256, uint256, uint80) {
        return (roundId, answers[roundId], startedAts[roundId],
                updatedAts[roundId], roundId);
    }

    function latestRoundData() external view returns (
        uint80, int256, uint256, uint256, uint80) {
        return getRoundData(latestRound);
    }
}
